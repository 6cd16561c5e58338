"""Delivery: subscribers, approval, the send ledger and sending (exactly once per reader)."""

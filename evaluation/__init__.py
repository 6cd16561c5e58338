"""Offline evaluation of curation against labelled days, and training of the learned ranker.

Not part of the runtime package: ``python -m evaluation.evaluate`` (``make evaluate``) and
``python -m evaluation.train_ranker`` (``make train-ranker``) run from the repository root.
"""

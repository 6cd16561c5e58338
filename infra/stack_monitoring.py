"""The monitoring section of an environment's stack: alerts, SES feedback, metric filters, alarms,
the budget and the dashboard."""

from __future__ import annotations

import json
import re
from typing import Any

from infra import documents as docs
from infra.cfn import StackBuilder, get_att, ref, sub, tags

CUSTOM_NAMESPACE = docs.METRICS_NAMESPACE  # the pipeline's metrics: log metric filters and resources/metrics.py


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class MonitoringSection(StackBuilder):
    """The alert topic, SES feedback queue, log metric filters, alarms, budget, dashboard."""

    # ------------------------------------------------------------ alerts, monitoring

    def monitoring(self) -> None:
        env = self.env
        self.add("AlertTopic", "AWS::SNS::Topic", {"TopicName": f"{env.name}-alerts", "Tags": tags(env)})
        self.add("AlertTopicPolicy", "AWS::SNS::TopicPolicy", {"Topics": [ref("AlertTopic")], "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{
                "Sid": "AwsServicesPublish", "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "cloudwatch.amazonaws.com",
                                          "budgets.amazonaws.com"]},
                "Action": "sns:Publish", "Resource": ref("AlertTopic"),
                "Condition": {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}}]}})
        self.add("AlertEmailSubscription", "AWS::SNS::Subscription", {
            "TopicArn": ref("AlertTopic"), "Protocol": "email", "Endpoint": ref("AlertEmail")},
            Condition="HasAlertEmail")
        # SES: the newsletter's configuration set; bounces and complaints -> SNS -> SQS (ses_feedback_sensor)
        self.add("FeedbackTopic", "AWS::SNS::Topic", {"TopicName": f"{env.name}-ses-feedback", "Tags": tags(env)})
        self.add("FeedbackQueue", "AWS::SQS::Queue", {
            "QueueName": docs.feedback_queue_name(env), "SqsManagedSseEnabled": True,
            "MessageRetentionPeriod": 1209600, "Tags": tags(env)})
        self.add("FeedbackQueuePolicy", "AWS::SQS::QueuePolicy", {"Queues": [ref("FeedbackQueue")], "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": get_att("FeedbackQueue", "Arn"),
                "Condition": {"ArnEquals": {"aws:SourceArn": ref("FeedbackTopic")}}}]}})
        self.add("FeedbackSubscription", "AWS::SNS::Subscription", {
            "TopicArn": ref("FeedbackTopic"), "Protocol": "sqs", "Endpoint": get_att("FeedbackQueue", "Arn"),
            "RawMessageDelivery": False})
        self.add("NewsletterConfigurationSet", "AWS::SES::ConfigurationSet",
                 {"Name": docs.ses_configuration_set(env), "Tags": tags(env)})
        self.add("NewsletterFeedbackDestination", "AWS::SES::ConfigurationSetEventDestination", {
            "ConfigurationSetName": ref("NewsletterConfigurationSet"),
            "EventDestination": {"Name": "feedback", "Enabled": True, "MatchingEventTypes": ["bounce", "complaint"],
                                 "SnsDestination": {"TopicARN": ref("FeedbackTopic")}}})
        # tasks that never start (no GPU capacity, image pull errors)
        self.add("TaskFailedToStartRule", "AWS::Events::Rule", {
            "Description": "ECS tasks of the cluster that failed to start",
            "EventPattern": {"source": ["aws.ecs"], "detail-type": ["ECS Task State Change"],
                             "detail": {"clusterArn": [get_att("Cluster", "Arn")], "lastStatus": ["STOPPED"],
                                        "stopCode": ["TaskFailedToStart"]}},
            "Targets": [{"Id": "alerts", "Arn": ref("AlertTopic")}], "Tags": tags(env)})
        # pipeline metrics from the run workers' log lines (Dagster's event names)
        filters = {
            "RunFailures": '"RUN_FAILURE"',
            "RunSuccesses": '"RUN_SUCCESS"',
            "NewslettersPublished": '"ASSET_MATERIALIZATION" "newsletters"',
            "DeliveriesSent": '"ASSET_MATERIALIZATION" "newsletter_deliveries"',
        }
        for metric, pattern in filters.items():
            self.add(f"{metric}MetricFilter", "AWS::Logs::MetricFilter", {
                "LogGroupName": ref("LogGroup"), "FilterPattern": pattern,
                "MetricTransformations": [{"MetricNamespace": CUSTOM_NAMESPACE, "MetricName": metric,
                                           "MetricValue": "1", "Unit": "Count"}]})
        alarms = env.alarms
        ecs_dims = [{"Name": "ClusterName", "Value": ref("Cluster")},
                    {"Name": "ServiceName", "Value": f"{env.name}-daemon"}]
        rds_dims = [{"Name": "DBInstanceIdentifier", "Value": ref("Database")}]
        self._alarm("FailedRunAlarm", "a Dagster run failed", CUSTOM_NAMESPACE, "RunFailures", [], "Sum",
                    3600, 1, alarms.failed_runs, "GreaterThanOrEqualToThreshold", "notBreaching")
        self._alarm("NewsletterLateAlarm", f"no newsletter materialised for {alarms.newsletter_late_hours} hours",
                    CUSTOM_NAMESPACE, "NewslettersPublished", [], "Sum", 3600, alarms.newsletter_late_hours, 1,
                    "LessThanThreshold", "breaching")
        self._alarm("DaemonDownAlarm", "the Dagster daemon is not running", "ECS/ContainerInsights",
                    "RunningTaskCount", ecs_dims, "Minimum", 300, 1, 1, "LessThanThreshold", "breaching")
        self._alarm("DatabaseStorageAlarm", "PostgreSQL free storage low", "AWS/RDS", "FreeStorageSpace", rds_dims,
                    "Minimum", 300, 1, alarms.rds_free_storage_gib * 1024**3, "LessThanThreshold", "missing")
        self._alarm("DatabaseCpuAlarm", "PostgreSQL CPU high for 15 minutes", "AWS/RDS", "CPUUtilization",
                    rds_dims, "Average", 300, 3, alarms.rds_cpu_percent, "GreaterThanThreshold", "missing")
        self._alarm("DatabaseConnectionsAlarm", "PostgreSQL connections near the limit", "AWS/RDS",
                    "DatabaseConnections", rds_dims, "Maximum", 300, 2, alarms.rds_max_connections,
                    "GreaterThanThreshold", "missing")
        self.add("MonthlyBudget", "AWS::Budgets::Budget", {
            "Budget": {"BudgetName": f"{env.name}-{env.env}-monthly", "BudgetType": "COST", "TimeUnit": "MONTHLY",
                       "BudgetLimit": {"Amount": env.monthly_budget_usd, "Unit": "USD"},
                       "CostFilters": {"TagKeyValue": [f"user:project${env.project}"]}},
            "NotificationsWithSubscribers": [{
                "Notification": {"NotificationType": "FORECASTED", "ComparisonOperator": "GREATER_THAN",
                                 "Threshold": env.budget_alert_percent, "ThresholdType": "PERCENTAGE"},
                "Subscribers": [{"SubscriptionType": "SNS", "Address": ref("AlertTopic")}]}],
            "ResourceTags": tags(env)},
            DependsOn="AlertTopicPolicy")
        self.add("Dashboard", "AWS::CloudWatch::Dashboard", {
            "DashboardName": f"{env.name}-{env.env}", "DashboardBody": self._dashboard(), "Tags": tags(env)})

    def _alarm(self, logical: str, description: str, namespace: str, metric: str, dims: list, stat: str,
               period: int, periods: int, threshold: float, comparison: str, missing: str) -> None:
        props: dict[str, Any] = {
            "AlarmName": f"{self.env.name}-{self.env.env}-{_kebab(logical.removesuffix('Alarm'))}",
            "AlarmDescription": description, "Namespace": namespace, "MetricName": metric,
            "Statistic": stat, "Period": period, "EvaluationPeriods": periods, "DatapointsToAlarm": periods,
            "Threshold": threshold, "ComparisonOperator": comparison, "TreatMissingData": missing,
            "AlarmActions": [ref("AlertTopic")]}
        if dims:
            props["Dimensions"] = dims
        if missing != "breaching":
            props["OKActions"] = [ref("AlertTopic")]
        props["Tags"] = tags(self.env)
        self.add(logical, "AWS::CloudWatch::Alarm", props)

    def _dashboard(self) -> dict[str, Any]:
        """Runs, durations, articles per stage, LLM cost, GPU hours, deliveries, the database, cost
        per newsletter (metric names: the log metric filters and ``sensors.run_metrics``)."""
        env = self.env
        ns = CUSTOM_NAMESPACE

        def widget(title: str, metrics: list, x: int, y: int, stat: str = "Sum", period: int = 86400) -> dict:
            return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": {
                "title": title, "region": "${AWS::Region}", "stat": stat, "period": period, "view": "timeSeries",
                "metrics": metrics}}

        body = {"widgets": [
            widget("Runs per day", [[ns, "RunSuccesses"], [ns, "RunFailures"]], 0, 0),
            widget("Run seconds per job (p90)", [[ns, "RunSeconds", "Job", j] for j in
                                                 ("ingest", "scoring", "publish", "deliver_newsletter")],
                   12, 0, "p90"),
            widget("Articles per stage", [[ns, "Articles", "Stage", s] for s in
                                          ("feed_entries", "filtered_articles", "scored_articles",
                                           "enhanced_articles")], 0, 6, "Maximum"),
            widget("LLM cost (USD) and GPU hours", [[ns, "LlmCostUsd"], [ns, "GpuHours", {"yAxis": "right"}]],
                   12, 6),
            widget("Newsletters and deliveries", [[ns, "NewslettersPublished"], [ns, "DeliveriesSent"],
                                                  [ns, "EmailsSent", {"yAxis": "right"}]], 0, 12),
            widget("PostgreSQL", [["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", env.name],
                                  ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", env.name,
                                   {"yAxis": "right"}]], 12, 12, "Average", 300),
            # one newsletter a day: the day's compute (run seconds x cost: prices) + LLM spend; storage
            # and the full breakdown are in the cost_per_newsletter dbt model
            widget("Cost per newsletter (USD per day)", [
                [{"expression": "FILL(m1, 0) + FILL(m2, 0)", "label": "compute + LLM", "id": "e1"}],
                [ns, "ComputeCostUsd", {"id": "m1", "label": "compute"}],
                [ns, "LlmCostUsd", {"id": "m2", "label": "LLM"}]], 0, 18),
        ]}
        return sub(json.dumps(body, separators=(",", ":")))

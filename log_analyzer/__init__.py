"""The log_analyzer specialist: the root failure of a failed Airflow/dbt task, from its logs."""

from log_analyzer.analyzer import analyze_log
from log_analyzer.incident import analyze_incident
from log_analyzer.models import ErrorClass, LogAnalysis

__all__ = ["ErrorClass", "LogAnalysis", "analyze_incident", "analyze_log"]

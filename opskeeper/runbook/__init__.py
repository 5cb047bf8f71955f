"""Runbook execution: render steps, run them on a host, judge the result, record every step."""

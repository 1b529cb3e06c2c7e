"""Triggers for the SAP Health for Patient Engagement APIs (deferrable mode)."""

"""Sensors for the SAP Health for Patient Engagement APIs."""

"""Loopback fakes of the CRM APIs (HubSpot, Salesforce) for tests and benchmarks."""

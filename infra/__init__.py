"""CDK infrastructure of taskbeacon: one construct per capability, composed by a thin stack."""

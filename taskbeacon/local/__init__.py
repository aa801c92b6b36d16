"""Local mode: the whole system on one machine, on an embedded DynamoDB-compatible engine."""

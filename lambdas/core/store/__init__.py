"""DynamoDB data access: table definition, keys, conditional writes and paged reads."""

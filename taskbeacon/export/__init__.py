"""Work on a DynamoDB export of the table, on the operator's machine (``taskbeacon export ...``)."""

"""Local mode's stand-ins for AWS: the DynamoDB engine (moto or DynamoDB Local) and its bounds, API
Gateway (routes, SigV4, IAM principals, admission), the Lambda runtime, the table stream's event
source mapping, and the change-events bus. Local mode's own parts (the system that wires them, the
demo fleet, the sweep runner, the CLI command) import these; these import none of them, except the
gateway's one lazy hand-off of ``POST /_local/sweep`` to the sweep runner."""

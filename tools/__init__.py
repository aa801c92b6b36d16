"""Build-time tools run from the repository root; never part of the Lambda asset (which is lambdas/)."""

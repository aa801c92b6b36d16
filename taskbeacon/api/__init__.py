"""The taskbeacon API as a caller sees it: the signed HTTP client, its read interface and its errors.

Shared by the CLI and the console, so neither imports the other for it.
"""

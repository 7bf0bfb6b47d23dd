"""Customer accounts, their users and API keys."""

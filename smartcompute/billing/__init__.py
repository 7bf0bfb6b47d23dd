"""Payments: provider webhooks and, later, the credit ledger."""

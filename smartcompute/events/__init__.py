"""Live updates: the event log jobs write as their status changes, read by position, and woken by NOTIFY."""

"""Notifications: senders behind one Protocol, fed by the database outbox."""

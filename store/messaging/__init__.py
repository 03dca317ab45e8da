"""What Usher sends: the durable outbox, mail delivery, emails, webhooks."""

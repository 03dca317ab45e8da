"""Everyone with an account: signing in, users, export, erasure, audit, admins."""

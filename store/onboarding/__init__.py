"""Bringing people in: links, invitations, signups, one user, bulk, approvals."""

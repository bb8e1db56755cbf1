"""Who is signing in: the protocols the accounts (issue 13) implement, and in-memory implementations for now."""

"""Account-wide operations across every kind of the user's data: export and erasure."""

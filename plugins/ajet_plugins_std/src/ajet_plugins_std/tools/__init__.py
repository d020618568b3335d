"""Tools agents call during episodes (the tutorials' Python sandbox)."""

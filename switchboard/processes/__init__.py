"""The processes Switchboard runs: serve, the edges of --edges N, the admin command."""

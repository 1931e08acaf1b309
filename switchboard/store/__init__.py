"""The durable record: mongoengine documents, the group-commit writer, recovery reads, embedded servers."""

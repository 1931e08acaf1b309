"""The durable record: mongoengine documents, the queries by resource (users, groups, conversations, visitors,
kb) and their errors, the group-commit writer, recovery reads, the embedded servers."""

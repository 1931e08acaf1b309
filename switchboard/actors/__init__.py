"""The dispatch domain: Agent, SkillQueue and Conversation entities and the runtimes that host them.

Start an engine with :func:`switchboard.actors.start.start_engine`.
"""

"""Several nodes on shared PostgreSQL and Redis.

Node heartbeats, call control that reaches a call wherever it runs, and the settling of
calls whose node died.
"""

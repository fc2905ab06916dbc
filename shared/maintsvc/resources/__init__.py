"""The API's use cases: create, read, change and delete maintenances and their events.

Each route calls one function here; they take the store and settings as
arguments and answer with resources or raise the errors of `maintsvc.errors`.
"""

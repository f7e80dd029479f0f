"""Promotion and rollback as edits of a stack file: what `cicd.promote` changes, checked by the
one config reader, and the staging provenance it asks for."""

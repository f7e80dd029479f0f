import logging


class _NoHostMetadataNotice(logging.Filter):
    """The SDK logs a warning whenever a host serves no `/.well-known/databricks-config` (an
    optional discovery probe; it then uses the configuration given, as it should). Printed on
    every run of every tool, even a successful one, it reads as an error: it is dropped. A host
    that cannot be reached is still reported by the call that needs it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(
            "Failed to automatically resolve config from host metadata"
        )


logging.getLogger("databricks.sdk").addFilter(_NoHostMetadataNotice())

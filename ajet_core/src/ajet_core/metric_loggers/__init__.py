"""Built-in metric loggers, registered through ``ajet_register_loggers`` like any plugin's."""

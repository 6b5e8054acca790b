"""The technician serial console: login, line editor, commands, served over pyserial."""

import sys

from stylize import signals

signals.install()  # before the command's imports: a Ctrl-C while they load stops it too (see stylize.signals)
try:
    from stylize.cli import main
except KeyboardInterrupt:
    print("stylize: interrupted while starting; nothing was done", file=sys.stderr)
    sys.exit(signals.exit_status())

sys.exit(main())

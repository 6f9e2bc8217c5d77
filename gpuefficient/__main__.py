from gpuefficient.cli import main

raise SystemExit(main())

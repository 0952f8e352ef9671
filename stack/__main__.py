from stack.run import main

raise SystemExit(main())

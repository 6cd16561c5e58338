from desk.server import main

main()

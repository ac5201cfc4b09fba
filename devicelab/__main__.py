from devicelab.cli import main

main()

from compliance.cli import main

if __name__ == "__main__":  # a spawned worker imports this module too, and must not run the CLI
    main()

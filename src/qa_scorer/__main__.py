from qa_scorer.cli import main

if __name__ == "__main__":
    main()

from qa_scorer.cli import main

main()

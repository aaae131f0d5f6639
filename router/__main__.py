from router.standalone import main

main()

from nginxssl.cli import main

main()

from cowsay import cow

cow("Hello, world!")

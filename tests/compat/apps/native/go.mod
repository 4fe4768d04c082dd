module native

go 1.19

module hotline

go 1.24

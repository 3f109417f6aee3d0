module cardea.example/go-backend

go 1.19

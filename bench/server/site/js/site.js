console.log("server bench");

// Plain Java (no Android dependency): the same sources and JUnit 4 tests that `make test`
// compiles with javac. The vector tests read the folder written by
//   python -m kerascv_apps.export.phone_vectors DIR
// passed as -PkerascvVectors=DIR (or the KERASCV_VECTORS environment variable).
plugins {
    `java-library`
}

java {
    sourceCompatibility = JavaVersion.VERSION_17
    targetCompatibility = JavaVersion.VERSION_17
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}

tasks.test {
    val vectors = providers.gradleProperty("kerascvVectors").orElse(providers.environmentVariable("KERASCV_VECTORS"))
    if (vectors.isPresent) {
        systemProperty("kerascv.vectors", vectors.get())
    }
    testLogging {
        events("passed", "failed")
        showStandardStreams = false
    }
}

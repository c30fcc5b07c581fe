// Android demo: the app (:app) and the plain-Java pre/post-processing core (:core) it shares
// with the JUnit tests that `make test` runs from the repository root.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "kerascv-android-demo"
include(":core", ":app")

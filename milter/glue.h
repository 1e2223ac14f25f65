/* milter/glue.h - placeholder */
